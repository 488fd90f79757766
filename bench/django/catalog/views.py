"""The project's own pages: a template view, an ORM list, a detail page, two JSON views."""

from django.core.paginator import Paginator
from django.db.models import Avg, Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from .models import Author, Book, Review


def home(request: HttpRequest) -> HttpResponse:
    """A template page with no query: what a landing page costs."""
    return render(request, "catalog/home.html", {"sections": ["Books", "Authors", "Reviews"]})


def book_list(request: HttpRequest) -> HttpResponse:
    books = (Book.objects.select_related("author").annotate(n_reviews=Count("reviews"))
             .order_by("-published", "title"))
    page = Paginator(books, 50).get_page(request.GET.get("page"))
    return render(request, "catalog/book_list.html", {"page": page})


def author_detail(request: HttpRequest, pk: int) -> HttpResponse:
    author = get_object_or_404(Author, pk=pk)
    books = author.books.annotate(avg_rating=Avg("reviews__rating")).order_by("title")
    return render(request, "catalog/author_detail.html", {"author": author, "books": books})


def books_json(request: HttpRequest) -> JsonResponse:
    rows = Book.objects.values("id", "title", "isbn", "published", "price", "author__name")
    return JsonResponse({"books": list(rows[:100])})


def stats_json(request: HttpRequest) -> JsonResponse:
    top = (Author.objects.annotate(n=Count("books"), rating=Avg("books__reviews__rating"))
           .order_by("-n", "name")[:10])
    return JsonResponse({
        "authors": Author.objects.count(),
        "books": Book.objects.count(),
        "reviews": Review.objects.count(),
        "top": [{"name": a.name, "books": a.n, "rating": a.rating} for a in top],
    })
