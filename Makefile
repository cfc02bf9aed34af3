# Shortcuts for machines that have make; dev.py needs only Python.
.PHONY: run test
run:
	python3 dev.py run
test:
	python3 dev.py test
