//! `inlet console`: the operator console alone, on a store or stack that runs elsewhere.

use crate::args::DataDirArg;
use crate::backend::operator_context;
use crate::error::Outcome;
use std::path::Path;

pub(crate) async fn run(
    explicit: Option<&Path>,
    place: &DataDirArg,
    listen: std::net::SocketAddr,
) -> Outcome {
    let (config, ports) = operator_context(explicit, place).await?;
    crate::console::serve_alone(ports, config.as_ref(), listen).await?;
    Ok(())
}
