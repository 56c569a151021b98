// Verification: loadbench pages through the accounts and adds up count, total and negative
// balances (a query reads a bounded number of documents, hence the pages).
import { query } from "./_generated/server";
import { v } from "convex/values";

export const summary = query({
  args: { cursor: v.union(v.string(), v.null()), numItems: v.number() },
  returns: v.object({
    count: v.number(),
    total: v.number(),
    negative: v.number(),
    isDone: v.boolean(),
    continueCursor: v.string(),
  }),
  handler: async (ctx, { cursor, numItems }) => {
    const page = await ctx.db.query("accounts").paginate({ cursor, numItems });
    let total = 0;
    let negative = 0;
    for (const row of page.page) {
      total += row.balance;
      if (row.balance < 0) negative++;
    }
    return {
      count: page.page.length,
      total,
      negative,
      isDone: page.isDone,
      continueCursor: page.continueCursor,
    };
  },
});
