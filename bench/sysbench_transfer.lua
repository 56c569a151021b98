#!/usr/bin/env sysbench
-- test-1's transfer for sysbench (bench/vs_sysbench.py): move a uniform amount in [1, max_amount]
-- from one account to another (ids in [1, accounts], uniform or sysbench's zipfian), only if the
-- first one's balance covers it, in one transaction, locking the two rows in id order.
--
--   mode=procedure (default): CALL transfer_quiet(from, to, amount), the stored procedure vs_sysbench.py
--     creates: one round trip. It is `transfer`, the mysql connector's procedure, under another name:
--     it returns no result set (sysbench could not read one: its next query would fail "out of sync").
--   mode=statements: BEGIN; SELECT the payer's balance, locking both rows in id order (one
--     `... WHERE id IN (a, b) FOR UPDATE`); if it covers the amount, the debit and the credit
--     (prepared UPDATEs) and COMMIT, else ROLLBACK (a refusal). sysbench 1.0.20 cannot give the rows
--     an UPDATE changed (reading them crashes it), hence the SELECT.
--
-- Deadlocks (1213) and lock wait timeouts (1205) are retried: sysbench ignores them by default
-- (--mysql-ignore-errors), rolls back (the hook below) and runs the event again.

sysbench.cmdline.options = {
   accounts = {"Number of accounts (ids 1..accounts)", 100000},
   max_amount = {"Largest amount moved", 100},
   mode = {"procedure or statements", "procedure"},
   alpha = {"0: uniform ids; > 0: sysbench's zipfian with this exponent", 0},
}

local accounts, max_amount, zipfian

local function pick()
   if zipfian then return sysbench.rand.zipfian(1, accounts) end
   return sysbench.rand.uniform(1, accounts)
end

function thread_init()
   accounts = sysbench.opt.accounts
   max_amount = sysbench.opt.max_amount
   zipfian = tonumber(sysbench.opt.alpha) > 0
   drv = sysbench.sql.driver()
   con = drv:connect()
   local bigint = sysbench.sql.type.BIGINT
   if sysbench.opt.mode == "procedure" then
      procedure_mode = true
   elseif sysbench.opt.mode == "statements" then
      debit = con:prepare("UPDATE accounts SET balance = balance - ? WHERE id = ?")
      debit_params = {debit:bind_create(bigint), debit:bind_create(bigint)}
      debit:bind_param(unpack(debit_params))
      credit = con:prepare("UPDATE accounts SET balance = balance + ? WHERE id = ?")
      credit_params = {credit:bind_create(bigint), credit:bind_create(bigint)}
      credit:bind_param(unpack(credit_params))
   else
      error("mode must be procedure or statements, got '" .. sysbench.opt.mode .. "'")
   end
end

function thread_done()
   con:disconnect()
end

-- A deadlock or lock wait timeout: roll back before the event runs again.
sysbench.hooks.before_restart_event = function(err)
   con:query("ROLLBACK")
end

local function update(stmt, params, id, amount)
   params[1]:set(amount)
   params[2]:set(id)
   stmt:execute()
end

function event()
   local from = pick()
   local to = pick()
   while to == from do to = pick() end
   local amount = sysbench.rand.uniform(1, max_amount)
   if procedure_mode then
      con:query(string.format("CALL transfer_quiet(%d, %d, %d)", from, to, amount))
      return
   end
   con:query("BEGIN")
   local balance = tonumber(con:query_row(string.format(
      "SELECT SUM(IF(id = %d, balance, 0)) FROM accounts WHERE id IN (%d, %d) FOR UPDATE", from, from, to)))
   if balance < amount then
      con:query("ROLLBACK")
      return
   end
   update(debit, debit_params, from, amount)
   update(credit, credit_params, to, amount)
   con:query("COMMIT")
end
