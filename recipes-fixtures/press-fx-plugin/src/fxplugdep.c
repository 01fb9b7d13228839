int fxplugdep_value(void)
{
    return 41;
}
