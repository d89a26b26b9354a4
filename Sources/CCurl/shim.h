#ifndef COEVO_CCURL_SHIM_H
#define COEVO_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and friends are variadic macros that Swift cannot call. These typed
 * wrappers give each argument kind its own entry point, so the compiler checks what
 * Swift passes (the LLM client of the backends issue uses them). */

typedef size_t (*coevo_curl_write_fn)(char *, size_t, size_t, void *);

static inline CURLcode coevo_easy_setopt_long(CURL *h, CURLoption o, long v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode coevo_easy_setopt_string(CURL *h, CURLoption o, const char *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode coevo_easy_setopt_pointer(CURL *h, CURLoption o, void *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode coevo_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode coevo_easy_setopt_write_function(CURL *h, CURLoption o, coevo_curl_write_fn f) {
    return curl_easy_setopt(h, o, f);
}
static inline CURLcode coevo_easy_getinfo_long(CURL *h, CURLINFO i, long *out) {
    return curl_easy_getinfo(h, i, out);
}
static inline CURLcode coevo_easy_getinfo_double(CURL *h, CURLINFO i, double *out) {
    return curl_easy_getinfo(h, i, out);
}
static inline CURLcode coevo_easy_getinfo_pointer(CURL *h, CURLINFO i, char **out) {
    return curl_easy_getinfo(h, i, out);
}
static inline CURLMcode coevo_multi_setopt_long(CURLM *m, CURLMoption o, long v) {
    return curl_multi_setopt(m, o, v);
}
#endif
