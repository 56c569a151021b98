// Seeding in batches (a mutation writes a bounded number of documents): loadbench calls `clear`
// until it returns true, then `insertBatch` for ids first_id .. first_id + count - 1.
import { mutation } from "./_generated/server";
import { v } from "convex/values";

const CLEAR_BATCH = 4000;

export const clear = mutation({
  args: {},
  returns: v.boolean(),
  handler: async (ctx) => {
    const rows = await ctx.db.query("accounts").take(CLEAR_BATCH);
    for (const row of rows) await ctx.db.delete(row._id);
    return rows.length < CLEAR_BATCH;
  },
});

export const insertBatch = mutation({
  args: { first_id: v.number(), count: v.number(), initial_balance: v.number() },
  returns: v.null(),
  handler: async (ctx, { first_id, count, initial_balance }) => {
    for (let id = first_id; id < first_id + count; id++) {
      await ctx.db.insert("accounts", { id, balance: initial_balance });
    }
    return null;
  },
});
