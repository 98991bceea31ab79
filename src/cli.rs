//! The command line (docs/reference.md#command-line): `serve | check | demo`, `--config`, `--log-format`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The config path when neither `--config` nor `$SCOPEGATE_CONFIG` is given.
pub(crate) const DEFAULT_CONFIG: &str = "config/scopegate.toml";

/// OAuth 2.0 enforcement proxy: validates bearer tokens by introspection (RFC 7662),
/// maps scopes to routes and response fields, and forwards with the caller's identity.
#[derive(Debug, Parser)]
#[command(name = "scopegate", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file [default: $SCOPEGATE_CONFIG, else config/scopegate.toml]
    #[arg(long, global = true, env = "SCOPEGATE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log line format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy
    Serve,
    /// Validate the config; print the route table in match order and warnings
    Check,
    /// Run a local demo: a built-in authorization server, an echo upstream and the proxy
    Demo {
        /// Port of the demo proxy on 127.0.0.1
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Cli {
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }
}
