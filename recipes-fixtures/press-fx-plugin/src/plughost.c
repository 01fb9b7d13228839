/* A program that opens its plugin by path, relative to its own location
 * (the way krb5, SASL, gdk-pixbuf or Qt open theirs): nothing NEEDs it. */
#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    char exe[4096];
    char path[4352];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    void *handle;
    int (*answer)(void);

    if (n < 0)
        return 2;
    exe[n] = '\0';
    snprintf(path, sizeof path, "%s/../lib/press-fx/plugins/fxplug.so", dirname(exe));
    handle = dlopen(path, RTLD_NOW);
    if (handle == NULL) {
        fprintf(stderr, "press-fx-plughost: %s\n", dlerror());
        return 1;
    }
    answer = (int (*)(void))dlsym(handle, "fxplug_answer");
    printf("plugin answered %d\n", answer());
    return 0;
}
