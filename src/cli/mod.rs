//! The command-line client for people: the calls made by hand (forecast, deals, approvals,
//! pipelines, win rates, calls) through the generated tonic clients, printed as readable
//! tables or, with `--json`, as the proto3 canonical JSON that grpcurl prints.
//!
//! Each command group is a file with its arguments (clap) and a `run` that takes the
//! connected [`Connection`] and the writer the answer goes to, so tests capture it.

mod approvals;
mod calls;
mod deals;
mod error;
mod forecast;
mod json;
mod parse;
mod pipelines;
mod table;
mod winrates;

use std::io::Write;
use std::process::ExitCode;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::proto::deal_desk_service_client::DealDeskServiceClient;
use crate::proto::deal_service_client::DealServiceClient;
use crate::proto::directory_service_client::DirectoryServiceClient;
use crate::proto::forecast_service_client::ForecastServiceClient;
use crate::proto::pipeline_service_client::PipelineServiceClient;

pub use approvals::{ApprovalsArgs, ApprovalsCommand};
pub use calls::{CallsArgs, CallsCommand};
pub use deals::{DealsArgs, DealsCommand};
pub use error::ClientError;
pub use forecast::ForecastArgs;
pub use pipelines::{PipelinesArgs, PipelinesCommand};
pub use winrates::{WinRatesArgs, WinRatesCommand};

/// The client's commands, each talking to a running server.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Client: a period's forecast for a scope (totals, the P10/P50/P90 range, by stage, by
    /// category and by direct report).
    Forecast(ForecastArgs),
    /// Client: list, show (with the gate checklist), advance and close deals.
    Deals(DealsArgs),
    /// Client: the caller's approval queue; preview, submit, approve and reject requests.
    Approvals(ApprovalsArgs),
    /// Client: list, show and create (from a template) pipelines.
    Pipelines(PipelinesArgs),
    /// Client: compute and show a pipeline's learned win rates.
    #[command(name = "winrates")]
    WinRates(WinRatesArgs),
    /// Client: submit your forecast call; adjust the call of someone below you.
    Calls(CallsArgs),
}

/// Where the server is, who calls it and how answers print; every client command takes them.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The server's address.
    #[arg(
        long,
        env = "DEALDESK_ADDR",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub addr: String,
    /// The API token (`ddk_...`), sent as `authorization: Bearer <token>`.
    #[arg(long, env = "DEALDESK_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// PEM file of the certificate authority to trust for an `https://` address (the server's
    /// `--tls-cert` signer); TLS is spoken when the address is `https://`.
    #[arg(long, env = "DEALDESK_CA_CERT", value_name = "FILE", global = true)]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Print the answer as proto3 canonical JSON (the field names grpcurl prints) instead of
    /// tables.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientCommand {
    fn client_args(&self) -> &ClientArgs {
        match self {
            ClientCommand::Forecast(args) => &args.client,
            ClientCommand::Deals(args) => &args.client,
            ClientCommand::Approvals(args) => &args.client,
            ClientCommand::Pipelines(args) => &args.client,
            ClientCommand::WinRates(args) => &args.client,
            ClientCommand::Calls(args) => &args.client,
        }
    }
}

/// Runs `command` and prints its answer on stdout; an error goes to stderr with exit code 1.
pub async fn main(command: &ClientCommand) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match execute(command, &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        // The reader stopped reading (`| head`): not worth a word.
        Err(ClientError::Io(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            let _ = out.flush();
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Connects to the server `command` names and runs it, writing the answer to `out`.
pub async fn execute(command: &ClientCommand, out: &mut dyn Write) -> Result<(), ClientError> {
    let args = command.client_args();
    let connection = Connection::open(args).await?;
    let format = if args.json {
        Format::Json
    } else {
        Format::Table
    };
    match command {
        ClientCommand::Forecast(args) => forecast::run(&connection, args, format, out).await,
        ClientCommand::Deals(args) => deals::run(&connection, &args.command, format, out).await,
        ClientCommand::Approvals(args) => {
            approvals::run(&connection, &args.command, format, out).await
        }
        ClientCommand::Pipelines(args) => {
            pipelines::run(&connection, &args.command, format, out).await
        }
        ClientCommand::WinRates(args) => {
            winrates::run(&connection, &args.command, format, out).await
        }
        ClientCommand::Calls(args) => calls::run(&connection, &args.command, format, out).await,
    }
}

/// TLS trusting the `--ca-cert` authority.
fn tls(args: &ClientArgs) -> Result<tonic::transport::ClientTlsConfig, ClientError> {
    let Some(path) = &args.ca_cert else {
        return Err(ClientError::usage(
            "--addr",
            "is https:// but no --ca-cert (DEALDESK_CA_CERT) names the authority to trust",
        ));
    };
    let pem = std::fs::read(path).map_err(|e| {
        ClientError::usage(
            "--ca-cert",
            format!("`{}` cannot be read: {e}", path.display()),
        )
    })?;
    Ok(tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(pem)))
}

/// How an answer prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Readable tables and aligned fields.
    Table,
    /// Proto3 canonical JSON, pretty-printed.
    Json,
}

/// The channel a token authorises each call of: generated clients over it.
pub struct Connection {
    channel: Channel,
    token: BearerToken,
}

/// A channel whose every request carries the caller's token.
pub type AuthedChannel = InterceptedService<Channel, BearerToken>;

/// Adds `authorization: Bearer <token>` to every request (none without a token: the server
/// answers UNAUTHENTICATED, which is the message the caller should see).
#[derive(Debug, Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

impl Connection {
    /// Connects to `args.addr`: plain HTTP/2 for `http://`, TLS trusting `--ca-cert` for
    /// `https://` (this build holds no system roots).
    pub async fn open(args: &ClientArgs) -> Result<Connection, ClientError> {
        let token = match args.token.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ClientError::usage("--token", "is not printable ASCII"))?,
            ),
        };
        let mut endpoint = Endpoint::from_shared(args.addr.clone())
            .map_err(|_| ClientError::usage("--addr", "is not a URL (http://host:port)"))?;
        if args.addr.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tls(args)?)
                .map_err(|source| ClientError::Connect {
                    addr: args.addr.clone(),
                    source,
                })?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ClientError::Connect {
                addr: args.addr.clone(),
                source,
            })?;
        Ok(Connection {
            channel,
            token: BearerToken(token),
        })
    }

    fn authed(&self) -> AuthedChannel {
        InterceptedService::new(self.channel.clone(), self.token.clone())
    }

    /// DealService.
    pub fn deals(&self) -> DealServiceClient<AuthedChannel> {
        DealServiceClient::new(self.authed())
    }

    /// PipelineService.
    pub fn pipelines(&self) -> PipelineServiceClient<AuthedChannel> {
        PipelineServiceClient::new(self.authed())
    }

    /// ForecastService.
    pub fn forecasts(&self) -> ForecastServiceClient<AuthedChannel> {
        ForecastServiceClient::new(self.authed())
    }

    /// DealDeskService.
    pub fn deal_desk(&self) -> DealDeskServiceClient<AuthedChannel> {
        DealDeskServiceClient::new(self.authed())
    }

    /// DirectoryService.
    pub fn directory(&self) -> DirectoryServiceClient<AuthedChannel> {
        DirectoryServiceClient::new(self.authed())
    }

    /// The display name of `users/{id}`, or the name itself when it cannot be read.
    async fn display_name(&self, user: &str) -> String {
        if user.is_empty() {
            return String::new();
        }
        let request = crate::proto::GetUserRequest { name: user.into() };
        match self.directory().get_user(request).await {
            Ok(found) => found.into_inner().display_name,
            Err(_) => user.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Subcommand;

    use super::ClientCommand;

    /// Every client command and subcommand, with its path (`deals close`).
    fn commands() -> Vec<(String, clap::Command)> {
        // The client's commands under a root of their own: the binary's root is in `config`,
        // which depends on this module, not the other way round.
        let mut root = ClientCommand::augment_subcommands(clap::Command::new("dealdesk"));
        // Building propagates the global flags down to every subcommand.
        root.build();
        let mut found = Vec::new();
        let mut stack: Vec<(String, clap::Command)> = root
            .get_subcommands()
            .filter(|c| {
                [
                    "forecast",
                    "deals",
                    "approvals",
                    "pipelines",
                    "winrates",
                    "calls",
                ]
                .contains(&c.get_name())
            })
            .map(|c| (c.get_name().to_string(), c.clone()))
            .collect();
        while let Some((path, command)) = stack.pop() {
            // Building adds a `help` subcommand to each group.
            for sub in command.get_subcommands().filter(|c| c.get_name() != "help") {
                stack.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
            found.push((path, command));
        }
        found
    }

    #[test]
    fn every_client_command_and_flag_has_help() {
        let commands = commands();
        assert_eq!(
            commands.len(),
            6 + 4 + 5 + 3 + 2 + 2,
            "groups and their commands"
        );
        for (path, command) in commands {
            assert!(command.get_about().is_some(), "`{path}` has no help");
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "`{path}` --{id} has no help");
            }
        }
    }

    #[test]
    fn every_client_command_takes_the_address_token_and_json_flags() {
        for (path, command) in commands() {
            if command.has_subcommands() {
                continue;
            }
            for flag in ["addr", "token", "json", "ca_cert"] {
                assert!(
                    command.get_arguments().any(|a| a.get_id() == flag),
                    "`{path}` has no --{flag}"
                );
            }
        }
    }
}
