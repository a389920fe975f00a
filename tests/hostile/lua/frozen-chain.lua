-- expect: cannot set 'x'
policy { org = "trust:TR00092", name = "hostile: a chain of 150,000 tables to freeze (recursion would overflow the C stack)" }
local chain = {}
for i = 1, 150000 do chain = { next = chain } end
function on_pupil(p)
  chain.x = p.upn
end
