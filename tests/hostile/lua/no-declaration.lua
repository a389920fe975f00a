-- expect-load: no-declaration.lua:1: no policy{...} declaration
function on_pupil(p) end
