//! The loader's benchmark (see `tools/bench.sh` and `docs/benchmarks.md`).
pub mod cold_start;
pub mod digest;
pub mod generate;
pub mod http;
pub mod measure;
pub mod sink;
pub mod token_bucket;
