/* Shared library whose .rodata embeds the build prefix (binary-mode
 * prefix replacement). PRESS_PREFIX is passed with -D by build.py. */
const char *press_prefix = PRESS_PREFIX "/etc";

const char *pressfx_prefix(void)
{
    return press_prefix;
}
