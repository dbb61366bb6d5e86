"""Server-rendered pages for people, read through the API's services."""
