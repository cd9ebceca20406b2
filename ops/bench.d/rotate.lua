-- wrk script: each request takes the next path from the file named by the
-- environment variable BENCH_PATHS (one path per line), so several hot
-- variants are served in turn and no single file is the only one hot.
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  if #line > 0 then paths[#paths + 1] = line end
end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
