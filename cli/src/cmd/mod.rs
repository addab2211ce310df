//! One module per command (mini-redis's `cmd/` layout): each parses nothing — clap did
//! ([`crate::args`]) — and returns an [`Outcome`]; [`crate::error::exit_status`] turns it
//! into the exit status. Commands use the shared modules (`backend`, `config_file`, `out`,
//! `console`, `dev`); nothing outside `cmd` uses a command.

mod catalogue;
mod check;
mod config;
mod connect;
mod connections;
mod console;
mod dev;
mod dlq;
mod events;
mod outbox;
mod reconcile;
mod replay;
mod review;
mod schema;
mod send;
mod status;

use crate::args::{
    Command, ConfigAction, DlqAction, EventsAction, OutboxAction, ReviewAction, SchemaAction,
};
use crate::error::Outcome;

/// Run one parsed command.
pub async fn run(command: Command) -> Outcome {
    match command {
        Command::Dev {
            config,
            listen,
            data_dir,
        } => dev::run(config.config.as_deref(), listen, &data_dir).await,
        Command::Send {
            provider,
            body,
            url,
            event_type,
            id,
            print,
            write_body,
            config,
        } => {
            let opts = send::SendOptions {
                url,
                event_type,
                id,
                print,
                write_body,
            };
            send::run(config.config.as_deref(), &provider, &body, opts).await
        }
        Command::Check { config } => check::run(config.config.as_deref()),
        Command::Providers { markdown, json } => catalogue::providers(markdown, json),
        Command::Sources { json } => catalogue::sources(json),
        Command::Outbox {
            config,
            data_dir,
            json,
            action: None,
        } => outbox::status(config.config.as_deref(), &data_dir, json).await,
        Command::Outbox {
            action:
                Some(OutboxAction::Redrive {
                    config,
                    data_dir,
                    older_than,
                    ids,
                }),
            ..
        } => {
            let config = config.config.as_deref();
            if ids.is_empty() {
                outbox::redrive(config, &data_dir, older_than).await
            } else {
                outbox::by_id(config, &data_dir, &ids, outbox::ById::Redrive).await
            }
        }
        Command::Outbox {
            action:
                Some(OutboxAction::Discard {
                    config,
                    data_dir,
                    ids,
                }),
            ..
        } => {
            outbox::by_id(
                config.config.as_deref(),
                &data_dir,
                &ids,
                outbox::ById::Discard,
            )
            .await
        }
        Command::Dlq { action } => match action {
            DlqAction::List {
                data_dir,
                limit,
                json,
            } => dlq::list(&data_dir, limit, json).await,
            DlqAction::Redrive { data_dir, key, all } => dlq::redrive(&data_dir, key, all).await,
        },
        Command::Console {
            listen,
            config,
            data_dir,
        } => console::run(config.config.as_deref(), &data_dir, listen).await,
        Command::Events { action } => match action {
            EventsAction::List {
                filter,
                limit,
                after,
                json,
                data_dir,
            } => events::list(&data_dir, &filter, limit, after.as_deref(), json).await,
            EventsAction::Show {
                key,
                json,
                config,
                data_dir,
            } => events::show(config.config.as_deref(), &data_dir, &key, json).await,
            EventsAction::Replay {
                keys,
                filter,
                data_dir,
            } => events::replay(&data_dir, &keys, &filter).await,
        },
        Command::Schema { action } => match action {
            SchemaAction::List {
                data_dir,
                all,
                limit,
                json,
            } => schema::list(&data_dir, all, limit, json).await,
            SchemaAction::Show {
                provider,
                event_type,
                json,
                data_dir,
            } => schema::show(&data_dir, &provider, event_type.as_deref(), json).await,
            SchemaAction::Accept { ids, data_dir } => schema::accept(&data_dir, &ids).await,
        },
        Command::Review { action } => match action {
            ReviewAction::List {
                data_dir,
                limit,
                json,
            } => review::list(&data_dir, limit, json).await,
            ReviewAction::Show {
                key,
                json,
                config,
                data_dir,
            } => review::show(config.config.as_deref(), &data_dir, &key, json).await,
            ReviewAction::Release {
                keys,
                config,
                data_dir,
            } => {
                review::resolve(
                    config.config.as_deref(),
                    &data_dir,
                    &keys,
                    review::Resolution::Release,
                )
                .await
            }
            ReviewAction::Discard { keys, data_dir } => {
                review::resolve(None, &data_dir, &keys, review::Resolution::Discard).await
            }
        },
        Command::Status { data_dir, json } => status::run(&data_dir, json).await,
        Command::Connections {
            config,
            data_dir,
            json,
        } => connections::run(config.config.as_deref(), &data_dir, json).await,
        Command::Config { action } => match action {
            ConfigAction::Push { config, stack } => {
                config::push(config.config.as_deref(), &stack).await
            }
            ConfigAction::Show { stack } => config::show(&stack).await,
        },
        Command::Connect {
            name,
            config,
            data_dir,
            timeout_secs,
        } => {
            connect::run(
                config.config.as_deref(),
                &data_dir,
                &name,
                std::time::Duration::from_secs(timeout_secs),
            )
            .await
        }
        Command::Replay {
            key,
            from,
            to,
            data_dir,
        } => replay::run(&data_dir, key, from, to).await,
        Command::Reconcile {
            source,
            since,
            dry_run,
            json,
            config,
            data_dir,
        } => {
            reconcile::run(
                config.config.as_deref(),
                &data_dir,
                &source,
                since.as_deref(),
                dry_run,
                json,
            )
            .await
        }
    }
}
