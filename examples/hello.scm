;; GNU Hello 2.10 as frx ships it: `frx build -f examples/hello.scm`.
(use-modules (frx packages hello))

hello
