// test-1's transfer: move `amount` from `from_id` to `to_id` if `from_id` can cover it. A Convex
// mutation is one serializable transaction; a lost race is retried by Convex (or reported as a
// write conflict, which loadbench retries). Returns false, changing nothing, when the balance is
// too low.
import { mutation } from "./_generated/server";
import { v } from "convex/values";

export const transfer = mutation({
  args: { from_id: v.number(), to_id: v.number(), amount: v.number() },
  returns: v.boolean(),
  handler: async (ctx, { from_id, to_id, amount }) => {
    if (from_id === to_id || amount <= 0) return true;
    const from = await ctx.db
      .query("accounts")
      .withIndex("by_account_id", (q) => q.eq("id", from_id))
      .unique();
    const to = await ctx.db
      .query("accounts")
      .withIndex("by_account_id", (q) => q.eq("id", to_id))
      .unique();
    if (from === null || to === null) throw new Error(`account_missing: ${from_id} or ${to_id}`);
    if (from.balance < amount) return false;
    await ctx.db.patch(from._id, { balance: from.balance - amount });
    await ctx.db.patch(to._id, { balance: to.balance + amount });
    return true;
  },
});
