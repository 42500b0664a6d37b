//! Training and evaluation (native only): data loaders, augmentation, optimisers and schedules,
//! the training loop with exact resumption, and accuracy under noise.
pub mod augment;
pub mod data;
pub mod eval;
pub mod init;
pub mod optim;
pub mod run;
pub mod whitening;

pub use augment::{make_batch, Augment, Batch, Transform};
pub use data::{load, Dataset, Format, LoadOptions, Split};
pub use eval::{evaluate, EvalResult};
pub use init::init_seeded;
pub use optim::{learning_rate, smoothed_cross_entropy, Optimizer, OptimizerKind, ScheduleKind};
pub use run::{train, Job, Metrics, TrainOptions};

/// Keep freed memory in the process instead of handing it back to the OS after every tensor.
/// A training step allocates and frees many large buffers; glibc maps each one above its mmap
/// threshold afresh, and the page faults of zeroing new pages cost about a third of a step.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_TOP_PAD: i32 = -2;
        const M_MMAP_MAX: i32 = -4;
        // SAFETY: mallopt only changes allocator parameters; called before the heavy work.
        unsafe {
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
            mallopt(M_TOP_PAD, 64 << 20);
        }
    }
}
