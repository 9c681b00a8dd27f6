;;; (frx ui): loading a user's package file for the frx command.
;;;
;;; The C side calls `load-package-file'; it returns (ok . ALIST), the
;;; lowering data of the package the file's last form evaluated to, or
;;; (error . MESSAGE) with a one-line message that starts with
;;; FILE:LINE:COL where a position is known.  Nothing here exits.

(define-module (frx ui)
  #:use-module (frx packages)
  #:use-module (ice-9 rdelim)
  #:export (load-package-file))

;; Skip blanks and line comments so that the port points at the start of
;; the next form; its position is then the form's position.
(define (skip-blanks port)
  (let ((c (peek-char port)))
    (cond ((eof-object? c) c)
	  ((char-whitespace? c) (read-char port) (skip-blanks port))
	  ((char=? c #\;) (read-line port) (skip-blanks port))
	  (else c))))

(define (port-location file port)
  (format #f "~a:~a:~a" file (+ 1 (port-line port))
	  (+ 1 (port-column port))))

(define (exception->string key args)
  (string-trim-right
   (call-with-output-string
     (lambda (out)
       (print-exception out #f key args)))))

;; Guile's reader says where it stopped; for an unclosed form the useful
;; place is where the form began.
(define (read-error-message start key args)
  (let ((msg (exception->string key args)))
    (if (string-contains msg "end of input")
	(format #f "~a: unbalanced parentheses: end of file inside this form (~a)"
		start msg)
	msg)))

;; Syntax errors carry (who message source form subform); the source
;; (of the subform when there is one) is more precise than the start of
;; the top-level form.
(define (syntax-error-message start args)
  (let* ((who (car args))
	 (msg (cadr args))
	 (src (and (pair? (cddr args)) (caddr args)))
	 (file (and (pair? src) (assq-ref src 'filename))))
    (format #f "~a: ~a~a"
	    (if file
		(format #f "~a:~a:~a" file
			(+ 1 (or (assq-ref src 'line) 0))
			(+ 1 (or (assq-ref src 'column) 0)))
		start)
	    (if who (format #f "~a: " who) "")
	    msg)))

(define (error-message start key args)
  (case key
    ((read-error) (read-error-message start key args))
    ((syntax-error) (syntax-error-message start args))
    (else (format #f "~a: ~a" start (exception->string key args)))))

(define (user-module)
  (let ((m (make-fresh-user-module)))
    (module-use! m (resolve-interface '(frx packages)))
    m))

(define (load-package-file file)
  (let ((start file))
    (catch #t
      (lambda ()
	;; Package files are UTF-8 (or say otherwise in a coding: line),
	;; whatever the locale of the user who runs frx.
	(let* ((port (open-input-file file #:encoding "UTF-8"
				      #:guess-encoding #t))
	       (m (user-module)))
	  (set-port-filename! port file)
	  (let ((value (let loop ((last *unspecified*))
			 (skip-blanks port)
			 (set! start (port-location file port))
			 (let ((form (read-syntax port)))
			   (if (eof-object? form)
			       last
			       (loop (eval form m)))))))
	    (close-port port)
	    (set! start file)
	    (unless (package? value)
	      (error "the last form does not evaluate to a package:" value))
	    (cons 'ok (package->lowering value)))))
      (lambda (key . args)
	(cons 'error (error-message start key args))))))
