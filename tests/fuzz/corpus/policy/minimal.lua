policy { org = "la:355", name = "x" }
function on_pupil(p) alert(p, "k", {}) end
