#pragma once
#ifdef __cplusplus
extern "C" {
#endif
// placeholder: the tokenizer work fills this in
int csp_placeholder(void);
#ifdef __cplusplus
}
#endif
