//! The Redis sink: per key a hash of the latest window and a capped history stream, written
//! with the pipeline's progress by one Lua script per commit.

mod config;
mod error;
mod sink;
mod store;

pub use config::{
    is_redis_uri, RedisSection, RedisSettings, RedisTarget, RedisUriError, DEFAULT_HISTORY,
    DEFAULT_PREFIX,
};
pub use error::{is_transient, RedisError};
pub use sink::{RedisSink, RedisSinkOptions};
pub use store::{RedisScope, RedisStore, REJECTS_CAP};
