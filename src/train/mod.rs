//! Training and evaluation (native only): data loaders, augmentation, optimisers and schedules,
//! the training loop with exact resumption, and accuracy under noise.
pub mod augment;
pub mod data;
pub mod eval;
pub mod init;
pub mod optim;
pub mod run;

pub use augment::{make_batch, Augment, Batch, Transform};
pub use data::{load, Dataset, Format, LoadOptions, Split};
pub use eval::{evaluate, EvalResult};
pub use init::init_seeded;
pub use optim::{learning_rate, smoothed_cross_entropy, Optimizer, OptimizerKind, ScheduleKind};
pub use run::{train, Job, Metrics, TrainOptions};
