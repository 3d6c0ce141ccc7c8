//! Every Lambda adapter in one place: typed configuration from the environment, clients and
//! keys built once per cold start ([`config`]), the HTTP functions' start
//! ([`http_function`]), the `buypass` function ([`buypass`]) and `serial-activation`, which
//! also takes DynamoDB stream and schedule events ([`serial_activation`],
//! [`activation_events`]). Every function reports an initialisation failure to the Runtime
//! API's `/runtime/init/error` before it exits ([`init_error`]).

pub mod activation_events;
pub mod buypass;
pub mod config;
pub mod http_function;
pub mod init_error;
pub mod serial_activation;
