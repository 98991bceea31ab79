//! Not an API. The items the binary (`src/main.rs`), the benches and the fuzz targets
//! reach, re-exported in one place so that every module can stay `pub(crate)` (and
//! `unreachable_pub` can say when something is `pub` for no one). No stability promise:
//! anything here may change with any commit.

pub mod body {
    pub use crate::body::empty;
}
pub mod claims {
    pub use crate::claims::needs::Needs;
}
pub mod cli {
    pub use crate::cli::{Cli, Command, LogFormat};
}
pub mod config {
    pub use crate::config::units::Secret;
    pub use crate::config::{Config, JwksSource, JwtConfig};
    pub use crate::identity::IdentityConfig;
    pub use crate::introspect::settings::{AuthMethod, CacheConfig, IntrospectionConfig};
    pub use crate::token::{TokenConfig, TokenSources};
}
pub mod demo {
    pub use crate::demo::run;
    pub mod auth_server {
        pub use crate::demo::auth_server::{demo_jwt, serve, DEMO_AUDIENCE};
    }
    pub mod echo {
        pub use crate::demo::echo::serve;
    }
}
pub mod error {
    pub use crate::error::Chain;
}
pub mod filter {
    pub use crate::filter::FieldRules;
}
pub mod identity {
    pub use crate::identity::Identity;
}
pub mod introspect {
    pub use crate::claims::info::{Expectations, TokenInfo};
    pub use crate::clock::now_unix;
    pub use crate::introspect::{Health, Introspector};
    pub mod cache {
        pub use crate::introspect::cache::TokenDigest;
    }
    pub mod client {
        pub use crate::introspect::client::parse_answer;
    }
    pub mod info {
        pub use crate::claims::info::Expectations;
    }
}
pub mod jwt {
    pub use crate::jwt::{JwtValidator, Verdict};
}
pub mod metrics {
    pub use crate::metrics::{Metrics, Outcome};
}
pub mod path {
    pub use crate::path::{check, UnsafePath};
}
pub mod policy {
    pub use crate::claims::scope::ScopeSet;
    pub use crate::policy::pattern::RoutePattern;
    pub use crate::policy::{OwnerBinding, Route, RouteTable, Target};
}
pub mod rejection {
    pub use crate::claims::problem::TokenProblem;
    pub use crate::rejection::Rejection;
}
pub mod run {
    pub use crate::run::{check, serve, serve_bound};
}
pub mod state {
    pub use crate::state::State;
}
pub mod token {
    pub use crate::token::*;
}
