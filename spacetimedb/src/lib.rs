//! test-1 for loadbench's `spacetimedb` connector: accounts with ids 1..=N, the `transfer`
//! reducer it calls over the WebSocket protocol, and `seed` / `verify`, which it calls over HTTP.
//! `verify` writes its totals to the one-row `verification` table, which loadbench reads with SQL.

use spacetimedb::{reducer, ReducerContext, Table};

#[spacetimedb::table(name = accounts, public)]
pub struct Account {
    #[primary_key]
    pub id: u64,
    pub balance: i64,
}

#[spacetimedb::table(name = verification, public)]
pub struct Verification {
    #[primary_key]
    pub id: u32,
    pub accounts: u64,
    pub total: i64,
    pub negative: u64,
}

/// Replaces every account with `accounts` accounts of `initial_balance` each.
#[reducer]
pub fn seed(ctx: &ReducerContext, accounts: u64, initial_balance: i64) -> Result<(), String> {
    let table = ctx.db.accounts();
    let ids: Vec<u64> = table.iter().map(|row| row.id).collect();
    for id in ids {
        table.id().delete(id);
    }
    for id in 1..=accounts {
        table.insert(Account { id, balance: initial_balance });
    }
    log::info!("seeded {accounts} accounts with {initial_balance} each");
    Ok(())
}

/// Moves `amount` from `from` to `to`. A reducer is one transaction: an error rolls it back.
/// "insufficient_funds" is test-1's rejection (loadbench counts it as rejected, not failed).
#[reducer]
pub fn transfer(ctx: &ReducerContext, from: u64, to: u64, amount: i64) -> Result<(), String> {
    if from == to || amount <= 0 {
        return Ok(());
    }
    let by_id = ctx.db.accounts().id();
    let source = by_id.find(from).ok_or("account_missing")?;
    let target = by_id.find(to).ok_or("account_missing")?;
    if source.balance < amount {
        return Err("insufficient_funds".into());
    }
    by_id.update(Account { id: from, balance: source.balance - amount });
    by_id.update(Account { id: to, balance: target.balance + amount });
    Ok(())
}

/// Counts the accounts, their total and the negative balances into `verification` (row 0).
#[reducer]
pub fn verify(ctx: &ReducerContext) -> Result<(), String> {
    let (mut accounts, mut total, mut negative) = (0u64, 0i64, 0u64);
    for row in ctx.db.accounts().iter() {
        accounts += 1;
        total += row.balance;
        if row.balance < 0 {
            negative += 1;
        }
    }
    let table = ctx.db.verification();
    table.id().delete(0);
    table.insert(Verification { id: 0, accounts, total, negative });
    Ok(())
}
