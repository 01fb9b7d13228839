/* The plugin: loaded by file name from lib/press-fx/plugins, it NEEDs a
 * library of the package's lib/ (found through its RUNPATH). */
int fxplugdep_value(void);

int fxplug_answer(void)
{
    return fxplugdep_value() + 1;
}
