-- wrk script for bench/api.sh: GET /v1/can-send-sms over a list of request paths (one per
-- line, the first argument after --), round-robin, with the bearer key of $API_KEY.
local paths = {}
local i = 0
local auth = "Bearer " .. os.getenv("API_KEY")

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  -- Threads start at different places in the list.
  i = math.random(#paths)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Authorization"] = auth })
end
