;; A package that inherits the shipped GNU Hello and changes one field:
;; its source comes from a server on loopback (the tests start one with
;; `python3 -m http.server 8000 --bind 127.0.0.1`).
(use-modules (frx packages) (frx packages hello))

(package
  (inherit hello)
  (source
   (origin
     (inherit (package-source hello))
     (uri "http://127.0.0.1:8000/hello-2.10.tar.gz"))))
