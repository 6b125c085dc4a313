/* argv-echo: prints its argv twice, as the CRT parsed it (__wargv via wmain) and as
 * CommandLineToArgvW parses GetCommandLineW(), one argument a line as hex UTF-16 code
 * units ("c <hex>" / "s <hex>"), so any character (quotes, controls, non-ASCII) survives.
 * Tests spawn it with a raw command line to check our codec against a real Windows parser. */
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>

static void dump(char tag, const wchar_t *arg)
{
    printf("%c ", tag);
    for (; *arg; arg++)
        printf("%04x", (unsigned)*arg);
    printf("\n");
}

int wmain(int argc, wchar_t **argv)
{
    int n = 0, i;
    wchar_t **shell;
    for (i = 0; i < argc; i++)
        dump('c', argv[i]);
    shell = CommandLineToArgvW(GetCommandLineW(), &n);
    for (i = 0; shell && i < n; i++)
        dump('s', shell[i]);
    fflush(stdout);
    return 0;
}
