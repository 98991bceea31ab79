-- wrk script: 10,000 distinct tokens (TOKENS), each wrk thread replaying its own
-- disjoint half round robin, so the first use of each token is a cache miss and later
-- ones are hits.
local tokens = tonumber(os.getenv("TOKENS") or "10000")
local prefix = os.getenv("TOKEN_PREFIX") or "good-many-"
local threads = tonumber(os.getenv("WRK_THREADS") or "2")
local counter = 0
local mine = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter - 1)
end

function init(args)
  for i = id, tokens - 1, threads do
    mine[#mine + 1] = prefix .. i
  end
  n = 0
end

function request()
  n = n % #mine + 1
  return wrk.format("GET", "/orders/42", { ["Authorization"] = "Bearer " .. mine[n] })
end
