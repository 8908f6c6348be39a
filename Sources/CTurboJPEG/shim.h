// libjpeg-turbo's TurboJPEG API, which returns errors instead of longjmp-ing,
// so a corrupt JPEG is an error, never a crash.
#include <stddef.h>
#include <turbojpeg.h>
