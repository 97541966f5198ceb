#include "CKumoRuntime.h"

// Defined by the Swift concurrency runtime (libswift_Concurrency); not exported from the
// static runtime, so it is reached by linking against it rather than with dlsym.
extern void *_Nullable swift_task_enqueueGlobal_hook;

void *_Nullable *_Nonnull kumo_enqueue_global_hook(void) {
    return &swift_task_enqueueGlobal_hook;
}
