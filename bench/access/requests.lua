-- bench/access/requests.lua: the requests wrk sends for bench/access/run.sh.
-- wrk -s requests.lua URL -- SERIALS MODE
--   SERIALS: a file of device certificate serials, one a line, in hex (as
--   nginx's $ssl_client_serial gives them);
--   MODE "decide": to vigild's decision endpoint, the headers nginx's
--   /_vigil location sends (examples/nginx/snippets/vigil-access.conf) for
--   a mix of requests: one of 60 hosts (app0..app59.example.com, 50 with
--   policies), paths /p0 to /p2, a user (X-Forwarded-User, vigild.conf
--   access_user_header) of 500, client addresses in and out of the named
--   locations, 1 in 20 without a device certificate;
--   MODE "with" or "without": to the benchmark's nginx, the host
--   bench.example.test, /with-vigil/ or /without/, the device's serial in
--   X-Bench-Serial (wrk has no client certificates; the benchmark's nginx
--   passes this header where the shipped one passes $ssl_client_serial).
-- With BENCH_COUNT set in the environment, the answers are counted by status
-- and printed (which costs wrk time: not for the timed runs).
-- done() prints one line: "wrk-result REQUESTS_PER_S P50_US P99_US REQUESTS
-- NON_2XX SOCKET_ERRORS".

local reqs = {}
local n = 0
local i = 0
local threads = {}
counts = {}

local function decide_request(serials)
        local headers = {
                ["Host"] = "vigil-access",
                ["X-Original-Method"] = "GET",
                ["X-Original-URI"] = string.format("/p%d/x?q=%d", math.random(0, 2), math.random(0, 999)),
                ["X-Forwarded-Host"] = string.format("app%d.example.com", math.random(0, 59)),
                ["X-Forwarded-Proto"] = "https",
                ["X-Forwarded-User"] = string.format("user%d@example.com", math.random(0, 499)),
        }
        if math.random(2) == 1 then
                headers["X-Real-IP"] = string.format("10.%d.1.2", math.random(0, 31))
        else
                headers["X-Real-IP"] = string.format("2001:db8:%x::9", math.random(0, 31))
        end
        if math.random(20) == 1 then
                headers["X-Vigil-Client-Verify"] = "NONE"
        else
                headers["X-Vigil-Client-Verify"] = "SUCCESS"
                headers["X-Vigil-Client-Serial"] = serials[math.random(#serials)]
        end
        return wrk.format("GET", "/v1/decide", headers)
end

local function nginx_request(serials, mode)
        local path = mode == "with" and "/with-vigil/index.html" or "/without/index.html"
        return wrk.format("GET", path, {
                ["Host"] = "bench.example.test",
                ["X-Bench-Serial"] = serials[math.random(#serials)],
        })
end

function setup(thread)
        table.insert(threads, thread)
end

function init(args)
        local serials = {}
        for line in io.lines(args[1]) do
                serials[#serials + 1] = line
        end
        if #serials == 0 then
                error("no serials in " .. args[1])
        end
        math.randomseed(20261130)
        for k = 1, 8192 do
                if args[2] == "decide" then
                        reqs[k] = decide_request(serials)
                else
                        reqs[k] = nginx_request(serials, args[2])
                end
        end
        n = #reqs
end

function request()
        i = i % n + 1
        return reqs[i]
end

if os.getenv("BENCH_COUNT") then
        function response(status, headers, body)
                counts[status] = (counts[status] or 0) + 1
        end
end

function done(summary, latency, requests)
        local secs = summary.duration / 1e6
        local e = summary.errors
        io.write(string.format("wrk-result %.0f %d %d %d %d %d\n", summary.requests / secs,
                latency:percentile(50), latency:percentile(99), summary.requests, e.status,
                e.connect + e.read + e.write + e.timeout))
        if os.getenv("BENCH_COUNT") then
                local all = {}
                for _, t in ipairs(threads) do
                        for status, c in pairs(t:get("counts")) do
                                all[status] = (all[status] or 0) + c
                        end
                end
                local line = "wrk-statuses"
                for status, c in pairs(all) do
                        line = line .. string.format(" %d:%d", status, c)
                end
                io.write(line .. "\n")
        end
end
