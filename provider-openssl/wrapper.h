/* Inputs to bindgen: the provider ABI and the few libcrypto calls the provider makes. */
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/async.h>
#include <openssl/rand.h>
#include <openssl/provider.h>
