// libFuzzer's driver entry (libclang_rt.fuzzer, linked by -sanitize=fuzzer). SwiftPM points an
// executable's `main` at `<module>_main`, so each fuzz target's main calls the driver itself.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
