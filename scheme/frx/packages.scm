;;; (frx packages): package and origin records, Guix style.
;;;
;;; `package' and `origin' are macros that check their field names while
;;; the file is expanded, so a misspelt field is reported with the file,
;;; line and field name before anything runs.  `(inherit x)' copies every
;;; field of x that the form does not set.

(define-module (frx packages)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-9)
  #:export (package
	    package?
	    package-name
	    package-version
	    package-source
	    package-build-system
	    package-arguments
	    package-inputs
	    package-native-inputs
	    package-propagated-inputs
	    package-synopsis
	    package-description
	    package-license
	    package-home-page
	    package-full-name

	    origin
	    origin?
	    origin-method
	    origin-uri
	    origin-sha256
	    origin-file-name

	    build-system?
	    build-system-name
	    gnu-build-system
    trivial-build-system

	    url-fetch
	    base32
	    sha256

	    package->lowering))

(define-record-type <build-system>
  (make-build-system name)
  build-system?
  (name build-system-name))

(define gnu-build-system (make-build-system 'gnu))

;; The builder is a shell script given as #:builder; it runs with /bin/sh
;; in the sandbox, with $out (and $src, when there is a source) set.
(define trivial-build-system (make-build-system 'trivial))

;; The only fetch method: the daemon's builtin:download.
(define url-fetch 'url-fetch)

(define nix-base32-chars "0123456789abcdfghijklmnpqrsvwxyz")

;; A sha256 in Nix base32 (52 characters).  Kept as text: the lowering
;; code parses hash text in any form.
(define (base32 str)
  (unless (and (string? str)
	       (= (string-length str) 52)
	       (string-every (lambda (c) (string-index nix-base32-chars c))
			     str))
    (error "base32: not a Nix base32 sha256:" str))
  str)

;; A sha256 in hexadecimal (64 characters).
(define (sha256 str)
  (unless (and (string? str)
	       (= (string-length str) 64)
	       (string-every char-set:hex-digit str))
    (error "sha256: not a hexadecimal sha256:" str))
  (string-downcase str))

(define-record-type <package>
  (make-package name version source build-system arguments inputs
		native-inputs propagated-inputs synopsis description license
		home-page)
  package?
  (name package-name)
  (version package-version)
  (source package-source)
  (build-system package-build-system)
  (arguments package-arguments)
  (inputs package-inputs)
  (native-inputs package-native-inputs)
  (propagated-inputs package-propagated-inputs)
  (synopsis package-synopsis)
  (description package-description)
  (license package-license)
  (home-page package-home-page))

(define-record-type <origin>
  (make-origin method uri sha256 file-name)
  origin?
  (method origin-method)
  (uri origin-uri)
  (sha256 origin-sha256)
  (file-name origin-file-name))

(define (package-full-name p)
  (string-append (package-name p) "-" (package-version p)))

;; Field name, accessor, default (used when neither the form nor an
;; inherited record gives a value).
(define package-fields
  `((name ,package-name #f)
    (version ,package-version #f)
    (source ,package-source #f)
    (build-system ,package-build-system #f)
    (arguments ,package-arguments ())
    (inputs ,package-inputs ())
    (native-inputs ,package-native-inputs ())
    (propagated-inputs ,package-propagated-inputs ())
    (synopsis ,package-synopsis "")
    (description ,package-description "")
    (license ,package-license #f)
    (home-page ,package-home-page "")))

(define origin-fields
  `((method ,origin-method url-fetch)
    (uri ,origin-uri #f)
    (sha256 ,origin-sha256 #f)
    (file-name ,origin-file-name #f)))

;; Build a record from the (field . value) pairs a `package' or `origin'
;; form evaluated to; 'inherit names the record to copy from.
(define (fields->record what make fields known pred)
  (let ((base (assq-ref fields 'inherit)))
    (when (and (assq 'inherit fields) (not (pred base)))
      (error (format #f "~a: inherit: not a ~a:" what what) base))
    (apply make
	   (map (lambda (spec)
		  (let ((name (car spec))
			(get (cadr spec))
			(default (caddr spec)))
		    (cond ((assq name fields) => cdr)
			  (base (get base))
			  (else default))))
		known))))

(define (build-package fields)
  (let ((p (fields->record "package" make-package fields package-fields
			   package?)))
    (unless (string? (package-name p))
      (error "package: missing or invalid field: name"))
    (unless (string? (package-version p))
      (error (format #f "package ~a: missing or invalid field: version"
		     (package-name p))))
    p))

(define (build-origin fields)
  (let ((o (fields->record "origin" make-origin fields origin-fields
			   origin?)))
    (unless (origin-uri o)
      (error "origin: missing field: uri"))
    (unless (origin-sha256 o)
      (error "origin: missing field: sha256"))
    o))

(eval-when (expand load eval)
  ;; The syntax-error exception carries the source of stx (the field),
  ;; so the message can give its file, line and column.
  (define (field-error who form stx message)
    (syntax-violation who message form stx))

  ;; Turn one clause of a record form into a `(cons 'field value)'
  ;; expression, refusing unknown and repeated fields.
  (define (expand-clause who known seen form clause)
    (syntax-case clause ()
      ((field value)
       (identifier? #'field)
       (let ((name (syntax->datum #'field)))
	 (unless (or (eq? name 'inherit) (memq name known))
	   (field-error who form #'field
			(format #f "unknown field: ~a" name)))
	 (when (memq name seen)
	   (field-error who form #'field
			(format #f "duplicate field: ~a" name)))
	 #'(cons 'field value)))
      (_
       (field-error who form clause
		    (format #f "malformed field (expected (NAME VALUE)): ~a"
			    (syntax->datum clause))))))

  (define (expand-clauses who known form clauses)
    (let loop ((clauses clauses) (seen '()) (out '()))
      (if (null? clauses)
	  (reverse out)
	  (let* ((c (car clauses))
		 (e (expand-clause who known seen form c))
		 (name (syntax-case c () ((f v) (syntax->datum #'f)))))
	    (loop (cdr clauses) (cons name seen) (cons e out)))))))

(define-syntax package
  (lambda (form)
    (syntax-case form ()
      ((_ clause ...)
       (with-syntax (((e ...)
		      (expand-clauses 'package
				      '(name version source build-system
					arguments inputs native-inputs
					propagated-inputs synopsis
					description license home-page)
				      form #'(clause ...))))
	 #'(build-package (list e ...)))))))

(define-syntax origin
  (lambda (form)
    (syntax-case form ()
      ((_ clause ...)
       (with-syntax (((e ...)
		      (expand-clauses 'origin
				      '(method uri sha256 file-name)
				      form #'(clause ...))))
	 #'(build-origin (list e ...)))))))

;;;
;;; Lowering data: the plain values the C side turns into derivations.
;;;

(define (string-list? x)
  (and (list? x) (every string? x)))

(define (uri-basename uri)
  (let* ((q (or (string-index uri #\?) (string-length uri)))
	 (path (substring uri 0 q))
	 (slash (string-rindex path #\/)))
    (if slash (substring path (+ slash 1)) path)))

(define (origin->alist o)
  (let ((uris (if (string? (origin-uri o)) (list (origin-uri o))
		  (origin-uri o))))
    (unless (and (string-list? uris) (pair? uris))
      (error "origin: uri: expected a string or a list of strings:"
	     (origin-uri o)))
    (unless (eq? (origin-method o) 'url-fetch)
      (error "origin: method: only url-fetch is supported:"
	     (origin-method o)))
    (unless (string? (origin-sha256 o))
      (error "origin: sha256: expected (base32 \"...\") or a hex string:"
	     (origin-sha256 o)))
    `((file-name . ,(or (origin-file-name o) (uri-basename (car uris))))
      (uris . ,uris)
      (sha256 . ,(origin-sha256 o)))))

(define argument-defaults
  '((#:configure-flags . ())
    (#:make-flags . ())
    (#:tests? . #t)
    (#:test-target . "check")
    (#:builder . #f)))

;; Parse the keyword list of `arguments' into an alist, with defaults.
(define (parse-arguments name args)
  (let loop ((args args) (out argument-defaults))
    (cond ((null? args) out)
	  ((and (pair? args) (keyword? (car args)) (pair? (cdr args)))
	   (let ((k (car args)) (v (cadr args)))
	     (unless (assq k argument-defaults)
	       (error (format #f "package ~a: arguments: unknown keyword ~s"
			      name k)))
	     (loop (cddr args) (acons k v (alist-delete k out)))))
	  (else
	   (error (format #f "package ~a: arguments: expected a keyword list:"
			  name)
		  args)))))

(define (check-arguments name args)
  (define (check key ok? what)
    (unless (ok? (assq-ref args key))
      (error (format #f "package ~a: arguments: ~s: expected ~a:"
		     name key what)
	     (assq-ref args key))))
  (check #:configure-flags string-list? "a list of strings")
  (check #:make-flags string-list? "a list of strings")
  (check #:test-target string? "a string")
  args)

(define (check-no-inputs p)
  (for-each (lambda (field get)
	      (unless (null? (get p))
		(error (format #f "package ~a: ~a: not supported yet (must be empty)"
			       (package-name p) field))))
	    '(inputs native-inputs propagated-inputs)
	    (list package-inputs package-native-inputs
		  package-propagated-inputs)))

;; What the C lowering needs, as an alist of strings, string lists and
;; booleans.
(define (package->lowering p)
  (unless (package? p)
    (error "not a package:" p))
  (let* ((name (package-name p))
	 (bs (package-build-system p))
	 (kind (and (build-system? bs) (build-system-name bs))))
    (unless (memq kind '(gnu trivial))
      (error (format #f "package ~a: build-system: expected gnu-build-system or trivial-build-system"
		     name)))
    (unless (or (origin? (package-source p))
		(and (eq? kind 'trivial) (not (package-source p))))
      (error (format #f "package ~a: source: expected an origin" name)))
    (check-no-inputs p)
    (let ((args (check-arguments name
				 (parse-arguments name (package-arguments p)))))
      (when (eq? kind 'trivial)
	(unless (string? (assq-ref args #:builder))
	  (error (format #f "package ~a: arguments: #:builder: trivial-build-system needs a shell script string"
			 name))))
      `((name . ,name)
	(version . ,(package-version p))
	(build-system . ,(symbol->string kind))
	(source . ,(and (package-source p)
			(origin->alist (package-source p))))
	(builder . ,(assq-ref args #:builder))
	(configure-flags . ,(assq-ref args #:configure-flags))
	(make-flags . ,(assq-ref args #:make-flags))
	(tests? . ,(and (assq-ref args #:tests?) #t))
	(test-target . ,(assq-ref args #:test-target))))))
