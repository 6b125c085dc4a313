/* Wine 8 has no bcryptprimitives.dll, but Rust's std (>= 1.78) imports ProcessPrng from it
 * on Windows, so every Rust .exe fails to load under Wine with c0000135. This shim supplies
 * ProcessPrng over RtlGenRandom (advapi32's SystemFunction036), which Wine implements.
 * Built by scripts/wine-shim.sh; only ever used for running the Windows builds under Wine. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length; feed large requests in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
