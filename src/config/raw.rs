//! serde mirror of the TOML file (SPEC §2): `deny_unknown_fields` everywhere.
