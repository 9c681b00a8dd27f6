;;; (frx packages hello): GNU Hello, the package every test builds.

(define-module (frx packages hello)
  #:use-module (frx packages)
  #:export (hello))

(define hello
  (package
    (name "hello")
    (version "2.10")
    (source (origin
	      (method url-fetch)
	      (uri (list "https://ftpmirror.gnu.org/gnu/hello/hello-2.10.tar.gz"
			 "http://deb.debian.org/debian/pool/main/h/hello/hello_2.10.orig.tar.gz"))
	      (sha256
	       "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b")
	      (file-name "hello-2.10.tar.gz")))
    (build-system gnu-build-system)
    (synopsis "Hello, GNU world: An example GNU package")
    (description
     "GNU Hello prints the message \"Hello, world!\" and then exits.  It
serves as an example of standard GNU coding practices.")
    (license 'gpl3+)
    (home-page "https://www.gnu.org/software/hello/")))
