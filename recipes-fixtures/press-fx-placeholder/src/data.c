/* Executable that finds its data the way ncurses or OpenSSL do: an
 * environment variable first, else a directory under the compiled-in
 * prefix (a binary-mode prefix placeholder). */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    const char *dir = getenv("PRESS_FX_DATA");
    char path[4096];
    FILE *file;
    int c;

    if (dir == NULL || *dir == '\0')
        dir = PRESS_PREFIX "/share/press-fx-placeholder";
    snprintf(path, sizeof path, "%s/greeting.txt", dir);
    file = fopen(path, "r");
    if (file == NULL) {
        fprintf(stderr, "press-fx-data: cannot open %s\n", path);
        return 1;
    }
    while ((c = fgetc(file)) != EOF)
        putchar(c);
    fclose(file);
    return 0;
}
