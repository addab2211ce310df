//! An application marking an order paid and staging `order.paid` in the same SQLite
//! transaction. Run it, then `inlet dev` with
//!
//! ```toml
//! [[outboxes]]
//! name = "shop"
//! sqlite = "shop.db"
//! ```
//!
//! and the event reaches the sinks once, keyed `shop:order.paid:ord_42`.
//!
//! `cargo run -p inlet-outbox --example orders -- shop.db ord_42`

use inlet_outbox::{sqlite, OutboxEvent};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let db = args.next().unwrap_or_else(|| "shop.db".into());
    let order = args.next().unwrap_or_else(|| "ord_42".into());

    let mut conn = rusqlite::Connection::open(&db)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, status TEXT NOT NULL)",
    )?;
    sqlite::install(&conn)?;

    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO orders (id, status) VALUES (?1, 'paid')
         ON CONFLICT(id) DO UPDATE SET status = 'paid'",
        [&order],
    )?;
    // A business key: marking the same order paid twice publishes one event.
    let event = OutboxEvent::new(
        "order",
        &order,
        "order.paid",
        serde_json::json!({ "order": order }),
    )
    .with_idempotency_key(format!("order.paid:{order}"));
    sqlite::stage(&tx, &event)?;
    tx.commit()?;
    println!("order {order} paid; event {} staged in {db}", event.id);
    Ok(())
}
