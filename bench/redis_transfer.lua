-- test-1's transfer on Redis, run with EVALSHA (by loadbench's redis connector and by
-- bench/vs_redis_benchmark.py's redis-benchmark): KEYS[1] pays ARGV[1] to KEYS[2] if its balance
-- covers it. Atomic, as every script is. Returns 1 when money moved, 0 when refused, an error
-- when an account is missing (a server restarted without persistence has lost them).
local amount = tonumber(ARGV[1])
local balance = redis.call('GET', KEYS[1])
if not balance or redis.call('EXISTS', KEYS[2]) == 0 then
  return redis.error_reply('NOACCOUNT no such account')
end
if tonumber(balance) < amount then return 0 end
redis.call('DECRBY', KEYS[1], amount)
redis.call('INCRBY', KEYS[2], amount)
return 1
