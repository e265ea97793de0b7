// Declarations only (include/CFuzzer.h); libFuzzer provides the definitions.
#include "CFuzzer.h"
