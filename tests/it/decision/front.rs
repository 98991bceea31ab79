//! Real NGINX and Caddy in front of the decision listener.
