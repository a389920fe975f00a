-- expect: stopped: string.gsub would go over the budget of 10000000 instructions
policy { org = "trust:TR00092", name = "hostile: a cubic pattern over 5000 characters" }
function on_pupil(p)
  return string.gsub(string.rep("a", 5000), "a-a-a-b", "")
end
