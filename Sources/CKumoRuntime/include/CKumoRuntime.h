#ifndef CKUMO_RUNTIME_H
#define CKUMO_RUNTIME_H

/// The address of the Swift concurrency runtime's global-enqueue hook: when set, every job
/// for the global executor goes to it instead of the runtime's own thread pool.
void *_Nullable *_Nonnull kumo_enqueue_global_hook(void);

#endif
