"""Wire shapes: the pydantic models of requests and answers (validated by web, consumed by services),
and the functions that turn rows into the JSON clients see. Models know no wire shape."""
