-- wrk script: each connection receives messages and deletes what it received, as a worker does.
-- Arguments: queue URL, batch size (1 = ReceiveMessage + DeleteMessage, 10 = up to ten per
-- receive + DeleteMessageBatch). The server must accept unsigned requests (Kumo with --no-auth,
-- moto by default): a delete carries a receipt handle only known at run time, so it cannot be a
-- pre-signed replay. Each thread counts the messages it asked to delete; done() prints the sum.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  url = args[1]
  batch = tonumber(args[2])
  pending = {}
  deleted = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
  wrk.headers["X-Amz-Date"] = "20260101T000000Z"
  wrk.headers["Authorization"] =
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0"
end

local function call(target, body)
  wrk.headers["X-Amz-Target"] = target
  return wrk.format(nil, "/", nil, body)
end

function request()
  if #pending == 0 then
    return call("AmazonSQS.ReceiveMessage", string.format('{"QueueUrl":"%s","MaxNumberOfMessages":%d}', url, batch))
  end
  if batch == 1 then
    local handle = table.remove(pending)
    deleted = deleted + 1
    return call("AmazonSQS.DeleteMessage", string.format('{"QueueUrl":"%s","ReceiptHandle":"%s"}', url, handle))
  end
  local entries = {}
  for i = 1, math.min(#pending, 10) do
    entries[i] = string.format('{"Id":"%d","ReceiptHandle":"%s"}', i, table.remove(pending))
  end
  deleted = deleted + #entries
  return call("AmazonSQS.DeleteMessageBatch", string.format('{"QueueUrl":"%s","Entries":[%s]}', url, table.concat(entries, ",")))
end

function response(status, headers, body)
  if status == 200 and body then
    for handle in string.gmatch(body, '"ReceiptHandle"%s*:%s*"([^"]+)"') do
      table.insert(pending, handle)
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("deleted")
  end
  io.write(string.format("deleted: %d\n", total))
end
