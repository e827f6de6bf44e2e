-- wrk script of every PartnerKit benchmark workload. Configured by environment variables (set by bench/run.mjs):
--   BENCH_MODE        patch | patch-random | get | page | mixed
--   BENCH_TOKEN       bearer token (empty: no Authorization header)
--   BENCH_CUSTOMER    customer tenant id
--   BENCH_SEED_USER   the seed user (the one the seed PATCH updates)
--   BENCH_USERS       how many bulk users exist (ids BENCH_ID_PREFIX .. %012x of 1..N); 0: use the seed user
--   BENCH_ID_PREFIX   prefix of the bulk users' ids
--   BENCH_RANDOM_SEED a number that differs between runs (seeds the request ids and the random users)
-- Every PATCH carries a fresh MS-RequestId (a repeated one would be replayed by PartnerKit, which is not the
-- same work), and a usage location that differs from the previous PATCH's: the body is the seed example's
-- shape ({"usageLocation": …}), and rotating the country makes every PATCH a real change (PartnerKit writes the
-- user and an audit record only when a value changes; a PATCH repeating stored values writes neither). The done() hook prints one line "BENCH_JSON {...}" with the counts and latency percentiles.

local mode = os.getenv("BENCH_MODE") or "get"
local token = os.getenv("BENCH_TOKEN") or ""
local customer = os.getenv("BENCH_CUSTOMER") or "b662d1f9-72be-40f6-87c7-9fb9380a2726"
local seedUser = os.getenv("BENCH_SEED_USER") or "669e9734-fe1f-46bc-8b42-1a47615f979a"
local users = tonumber(os.getenv("BENCH_USERS") or "0") or 0
local idPrefix = os.getenv("BENCH_ID_PREFIX") or "0b000000-0000-4000-8000-"

local usersPath = "/v1/customers/" .. customer .. "/users"
local seedPath = usersPath .. "/" .. seedUser
local pagePath = usersPath .. "?size=100"
-- 16 countries: consecutive PATCHes never carry the same one, so with 50 requests in flight a PATCH of the seed
-- user almost always finds another country stored (measured: audit records per PATCH in the bench's notes).
local countries = { "US", "GB", "DE", "FR", "JP", "CA", "AU", "NL", "SE", "NO", "DK", "FI", "IE", "ES", "IT", "PT" }
local bodies = {}
for i, c in ipairs(countries) do
  bodies[i] = '{"usageLocation":"' .. c .. '","attributes":{"objectType":"CustomerUser"}}'
end
local patches = 0

local getHeaders = { ["Accept"] = "application/json" }
local patchHeaders = { ["Accept"] = "application/json", ["Content-Type"] = "application/json" }
if token ~= "" then
  getHeaders["Authorization"] = "Bearer " .. token
  patchHeaders["Authorization"] = "Bearer " .. token
end

local random = math.random
local format = string.format

local function uuid()
  return format("%04x%04x-%04x-4%03x-%x%03x-%04x%04x%04x",
    random(0, 0xffff), random(0, 0xffff), random(0, 0xffff), random(0, 0xfff),
    8 + random(0, 3), random(0, 0xfff), random(0, 0xffff), random(0, 0xffff), random(0, 0xffff))
end

local function randomUserPath()
  if users < 1 then return seedPath end
  return usersPath .. "/" .. idPrefix .. format("%012x", random(1, users))
end

local function patch(path)
  patchHeaders["MS-RequestId"] = uuid()
  patches = patches + 1
  return wrk.format("PATCH", path, patchHeaders, bodies[patches % #bodies + 1])
end

local function get(path)
  return wrk.format("GET", path, getHeaders, nil)
end

function init(args)
  math.randomseed((tonumber(os.getenv("BENCH_RANDOM_SEED") or "0") or 0) + os.time())
end

if mode == "patch" then
  request = function() return patch(seedPath) end
elseif mode == "patch-random" then
  request = function() return patch(randomUserPath()) end
elseif mode == "get" then
  request = function() return get(randomUserPath()) end
elseif mode == "page" then
  request = function() return get(pagePath) end
elseif mode == "mixed" then
  request = function()
    if random() < 0.8 then return get(randomUserPath()) end
    return patch(randomUserPath())
  end
else
  error("unknown BENCH_MODE " .. mode)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
